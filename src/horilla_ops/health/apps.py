from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "horilla_ops.health"
    label = "horilla_ops_health"
    verbose_name = "Horilla ops: health and metrics"
