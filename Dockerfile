# Production image of the vault API and scheduler worker.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg curl fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /var/lib/evault evault
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
