import sys

from horilla_ops.scheduler.service import main

sys.exit(main())
