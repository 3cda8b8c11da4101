"""The ops Django app: /health/, /health/live/, /health/ready/, /health/detailed/, /metrics/."""
