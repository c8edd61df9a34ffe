# shellcheck shell=bash
# The files tests read: the env file, the Secrets directory and pipeline.yaml (sourced by lib.sh).

# env_line KEY VALUE: KEY=value, single-quoted only when the value needs it (plain values stay dotenv-friendly).
env_line() {
  if [[ $2 =~ ^[A-Za-z0-9_./:@%+=,-]*$ ]]; then
    printf '%s=%s\n' "$1" "$2"
  else
    printf "%s='%s'\n" "$1" "${2//\'/\'\\\'\'}"
  fi
}

write_outputs() {
  local pg_pw pg_admin_pw mqtt_pw s3_pw s
  pg_pw=$(cred pg-mqtt2pg); pg_admin_pw=$(cred pg-postgres); mqtt_pw=$(cred mqtt-mqtt2pg); s3_pw=$(cred s3-secret)
  {
    echo "# Written by test/env/up.sh; load with: set -a; . $ENV_DIR/env; set +a"
    env_line TEST_ENV_DIR "$ENV_DIR"
    env_line DATABASE_URL "postgresql://$APP_USER:$pg_pw@127.0.0.1:$PG_PORT/$APP_USER"
    env_line DATABASE_ADMIN_URL "postgresql://postgres:$pg_admin_pw@127.0.0.1:$PG_PORT/postgres"
    env_line PGBOUNCER_URL "postgresql://$APP_USER:$pg_pw@127.0.0.1:$PGBOUNCER_PORT/$APP_USER"
    env_line PGBOUNCER_ADMIN_URL "postgresql://$APP_USER:$pg_pw@127.0.0.1:$PGBOUNCER_PORT/pgbouncer"
    env_line PG_BIN "$PG_BIN"
    env_line MQTT_URL "mqtt://127.0.0.1:$MQTT_PORT"
    env_line MQTTS_URL "mqtts://127.0.0.1:$MQTTS_PORT"
    env_line MQTT_TLS_DIR "$SVC_DIR/mosquitto/tls"
    env_line MQTT_USERNAME "$APP_USER"
    env_line MQTT_PASSWORD "$mqtt_pw"
    # Brokers the interop suite starts itself (test/lib/brokers.ts).
    env_line MOSQUITTO_BIN "$(svc_exe mosquitto)"
    env_line COMQTT_BIN "$(tool_path comqtt)"
    env_line MOCHI_BIN "$(tool_path mochi)"
    env_line COMQTT_CLUSTER_BIN "$(tool_path comqtt-cluster)"
    env_line HIVEMQ_BIN "$(tool_path hivemq)"
    env_line MOQUETTE_BIN "$(tool_path moquette)"
    env_line REDIS_SERVER_BIN "$(command -v redis-server || echo /usr/bin/redis-server)"
    env_line S3_ENDPOINT "http://127.0.0.1:$MINIO_PORT"
    env_line S3_BUCKET "$S3_BUCKET"
    env_line S3_REGION "$S3_REGION"
    env_line S3_ACCESS_KEY_ID "$APP_USER"
    env_line S3_SECRET_ACCESS_KEY "$s3_pw"
    env_line KUBECONFIG "$ENV_DIR/kubeconfig"
    env_line KUBE_APISERVER_URL "https://127.0.0.1:$KUBE_PORT"
    env_line KUBECTL "$(kubectl_path)"
    env_line SECRETS_DIR "$ENV_DIR/secrets"
    env_line PIPELINE_FILE "$ENV_DIR/pipeline.yaml"
  } >"$ENV_DIR/env.tmp"
  chmod 0600 "$ENV_DIR/env.tmp"; mv "$ENV_DIR/env.tmp" "$ENV_DIR/env"

  # Laid out like mounted Kubernetes Secrets: secrets/<secret>/<key>, no trailing newline.
  for s in pg-credentials mqtt-credentials s3-credentials; do mkdir -p "$ENV_DIR/secrets/$s"; done
  chmod 0700 "$ENV_DIR/secrets"
  printf '%s' "$APP_USER" >"$ENV_DIR/secrets/pg-credentials/username"
  printf '%s' "$pg_pw" >"$ENV_DIR/secrets/pg-credentials/password"
  printf '%s' "$APP_USER" >"$ENV_DIR/secrets/mqtt-credentials/username"
  printf '%s' "$mqtt_pw" >"$ENV_DIR/secrets/mqtt-credentials/password"
  printf '%s' "$APP_USER" >"$ENV_DIR/secrets/s3-credentials/accessKeyId"
  printf '%s' "$s3_pw" >"$ENV_DIR/secrets/s3-credentials/secretAccessKey"

  cat >"$ENV_DIR/pipeline.yaml" <<EOF
apiVersion: mqtt2pg.io/v1alpha1
kind: IngestPipeline
metadata:
  name: test
  namespace: default
spec:
  source:
    brokers: ["mqtt://127.0.0.1:$MQTT_PORT"]
    topicFilter: "t/+/d/+/evt/#"
    sharedGroup: mqtt2pg
    auth:
      secretRef: {name: mqtt-credentials}
  sink:
    postgres:
      host: 127.0.0.1
      port: $PGBOUNCER_PORT
      database: $APP_USER
      credentialsSecretRef: {name: pg-credentials}
    pgbouncer:
      enabled: false
  deadLetter:
    s3:
      bucket: $S3_BUCKET
      endpoint: http://127.0.0.1:$MINIO_PORT
      region: $S3_REGION
      forcePathStyle: true
      credentialsSecretRef: {name: s3-credentials}
EOF
}
