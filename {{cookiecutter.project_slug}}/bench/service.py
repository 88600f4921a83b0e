"""This service as ``python -m <package>`` runs it, for uvicorn's command line (run.py): the
app, then the garbage collector tuned for many connections."""

from {{ cookiecutter.package_name }}.__main__ import quiet_garbage_collector
from {{ cookiecutter.package_name }}.app import create_app

app = create_app()
quiet_garbage_collector()
