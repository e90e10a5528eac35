"""The calendar-sync service's ASGI app: for now only the ops endpoints every service serves."""

from kairos.web.ops_server import ops_app

app = ops_app("calendar-sync", {})
