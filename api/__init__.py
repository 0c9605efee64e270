"""The FastAPI process: routes, request/response schemas, services. Never imports torch."""
