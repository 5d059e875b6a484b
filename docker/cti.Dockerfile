FROM python:3.11-slim
WORKDIR /app
# ffmpeg: hold-music uploads in MP3/OGG (pydub); postgresql-client: cti backup/restore
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg postgresql-client \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md alembic.ini ./
COPY cti cti
COPY dialer dialer
COPY recordings recordings
COPY migrations migrations
COPY asterisk-conf asterisk-conf
RUN pip install --no-cache-dir -e .
ENV CTI_ENVIRONMENT=production
CMD ["python", "-m", "cti", "serve"]
