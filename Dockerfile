# Production image: the same `cds-service serve` (gunicorn) as the README, as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CDS_CARDS_DIR=/app/cards \
    CDS_EXAMPLES_DIR=/app/fhir_fixtures \
    CDS_DATABASE=/data/cds-service.sqlite3 \
    CDS_HOST=0.0.0.0 \
    CDS_PORT=8080
# Authentication is required: pass CDS_TRUSTED_ISSUERS (and CDS_PUBLIC_BASE_URL behind a proxy) at run time,
# CDS_DATABASE_URL for a PostgreSQL store shared by replicas, CDS_ADMIN_PASSWORD for the review page.
# Every setting: docs/configuration.md.

WORKDIR /app
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /nonexistent --no-create-home cds \
    && mkdir -p /data && chown cds /data
# Card texts and the review page's examples are data, beside the code.
COPY cards ./cards
COPY fhir_fixtures/scenarios ./fhir_fixtures/scenarios
COPY fhir_fixtures/requests ./fhir_fixtures/requests

USER 10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"
CMD ["cds-service", "serve"]
