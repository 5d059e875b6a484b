FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY cti cti
COPY dialer dialer
COPY recordings recordings
COPY migrations migrations
COPY asterisk-conf asterisk-conf
RUN pip install --no-cache-dir -e .
ENV CTI_ENVIRONMENT=production
CMD ["python", "-m", "cti", "serve"]
