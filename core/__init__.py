"""What the API and the worker share: settings, the experiment spec, the store, the Celery app."""
