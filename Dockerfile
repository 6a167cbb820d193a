FROM python:3.11-slim
WORKDIR /app
# Pango and a CJK font: WeasyPrint lays out the briefings' PDFs with them
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 \
    libpangoft2-1.0-0 fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY intake ./intake
COPY channels ./channels
COPY notifier ./notifier
COPY service ./service
RUN pip install --no-cache-dir .
ENV INTAKE_DATA_DIR=/data
EXPOSE 8000
CMD ["intake", "serve", "--host", "0.0.0.0", "--port", "8000"]
