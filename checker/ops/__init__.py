"""Operations: Prometheus metrics across gunicorn workers, /readyz, request ids, JSON logs."""
