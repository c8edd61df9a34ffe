# shellcheck shell=bash
# MinIO: data directory, start and the dead-letter bucket (sourced by lib.sh).

prepare_minio() {
  need_tool minio
  mkdir -p "$ENV_DIR/minio/data"
}
start_minio() {
  launch minio "$(id -un)" env MINIO_ROOT_USER="$APP_USER" MINIO_ROOT_PASSWORD="$(cred s3-secret)" MINIO_UPDATE=off \
    "$(svc_exe minio)" server --quiet --anonymous \
      --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" "$ENV_DIR/minio/data"
}
# Create the dead-letter bucket (idempotent: an existing bucket is fine).
bootstrap_minio() {
  local code out=$ENV_DIR/run/minio-bucket.out
  code=$(curl -sS -m 10 -o "$out" -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$APP_USER:$(cred s3-secret)" -X PUT "http://127.0.0.1:$MINIO_PORT/$S3_BUCKET" 2>&1) || true
  case "$code" in
    200) ;;
    409) grep -q 'BucketAlreadyOwnedByYou' "$out" || die "minio: creating bucket $S3_BUCKET failed: $(cat "$out")" ;;
    *) die "minio: creating bucket $S3_BUCKET failed (HTTP $code): $(cat "$out" 2>/dev/null)" ;;
  esac
  rm -f "$out"
}
