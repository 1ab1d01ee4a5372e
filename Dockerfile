# Production image: `cds-service serve` (gunicorn) on the loopback behind nginx, which reads every request whole
# before passing it on (slow clients hold nginx connections, not gunicorn threads); both as a non-root user.
# The entrypoint and nginx's configuration: deploy/serve-behind-nginx.sh, deploy/nginx.conf.template.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CDS_DATABASE=/data/cds-service.sqlite3 \
    CDS_HOST=0.0.0.0 \
    CDS_PORT=8080
# Authentication is required: pass CDS_TRUSTED_ISSUERS (and CDS_PUBLIC_BASE_URL behind a proxy) at run time,
# CDS_DATABASE_URL for a PostgreSQL store shared by replicas, CDS_ADMIN_PASSWORD for the review page.
# Every setting: docs/configuration.md.

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY cds_service ./cds_service
# Card texts and the review page's examples are data; the wheel carries them inside the package.
COPY cards ./cards
COPY fhir_fixtures/scenarios ./fhir_fixtures/scenarios
COPY fhir_fixtures/requests ./fhir_fixtures/requests
RUN apt-get update && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /nonexistent --no-create-home cds \
    && mkdir -p /data && chown cds /data
COPY deploy/serve-behind-nginx.sh deploy/nginx.conf.template ./deploy/

USER 10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"
CMD ["bash", "/app/deploy/serve-behind-nginx.sh"]
