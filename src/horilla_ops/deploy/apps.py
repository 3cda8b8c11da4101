from django.apps import AppConfig


class DeployConfig(AppConfig):
    name = "horilla_ops.deploy"
    label = "horilla_ops_deploy"
    verbose_name = "Horilla ops: what a deploy of a release does to the database"
