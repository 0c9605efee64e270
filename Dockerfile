# One image for the API, the workers and the migration step; the command picks the role.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# CPU wheel by default; a GPU image passes TORCH_INDEX=https://download.pytorch.org/whl/cu128.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir torch==2.13.0 --index-url ${TORCH_INDEX}
# Dependencies before the code, so that a code change rebuilds only the layers below.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt flower \
    && useradd --create-home optarena
COPY alembic.ini ./
COPY engine engine
COPY core core
COPY models models
COPY migrations migrations
COPY api api
COPY worker worker
COPY optarena optarena
RUN pip install --no-cache-dir --no-deps -e .
USER optarena
EXPOSE 8000
# The API's liveness; a worker container (same image, another command) sets its own check
# in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
