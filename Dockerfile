# One image for the API, the workers and the migration step; the command picks the role.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# CPU wheel by default; a GPU image passes TORCH_INDEX=https://download.pytorch.org/whl/cu128.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir torch==2.13.0 --index-url ${TORCH_INDEX}
COPY pyproject.toml ./
COPY engine engine
COPY api api
COPY worker worker
COPY models models
COPY migrations migrations
COPY optarena optarena
COPY alembic.ini ./
RUN pip install --no-cache-dir -e . flower && useradd --create-home optarena
USER optarena
EXPOSE 8000
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
