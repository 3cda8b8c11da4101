"""Upstream's createhorillauser, as far as horilla_ops relies on it: a superuser and its Employee."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from employee.models import Employee


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
        user = User.objects.create_superuser(username=username, email=options["email"], password=options["password"])
        Employee.objects.create(
            employee_user_id=user,
            employee_first_name=options["first_name"],
            employee_last_name=options["last_name"],
            email=options["email"],
            phone=options["phone"],
        )
        self.stdout.write(self.style.SUCCESS("Employee created successfully"))
