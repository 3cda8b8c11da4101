"""Same command line as upstream's createhorillauser (the role runs it once)."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Creates a new user"

    def add_arguments(self, parser):
        for option in ("first_name", "last_name", "username", "password", "email", "phone"):
            parser.add_argument(f"--{option}", type=str)

    def handle(self, *args, **options):
        username = options["username"]
        if User.objects.filter(username=username).exists():
            self.stdout.write(self.style.WARNING(f'User with username "{username}" already exists'))
            return
        User.objects.create_superuser(
            username=username,
            email=options["email"],
            password=options["password"],
            first_name=options["first_name"] or "",
            last_name=options["last_name"] or "",
        )
        self.stdout.write(self.style.SUCCESS("Employee instance created successfully"))
