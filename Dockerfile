FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY intake ./intake
COPY channels ./channels
COPY notifier ./notifier
COPY service ./service
RUN pip install --no-cache-dir .
ENV INTAKE_DATA_DIR=/data
EXPOSE 8000
CMD ["intake", "serve", "--host", "0.0.0.0", "--port", "8000"]
