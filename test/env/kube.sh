# shellcheck shell=bash
# etcd and kube-apiserver: data directory, certificates, tokens, kubeconfig, start (sourced by lib.sh).

prepare_etcd() {
  need_tool etcd
  mkdir -p "$ENV_DIR/etcd"; chmod 0700 "$ENV_DIR/etcd"
}
start_etcd() {
  launch etcd "$(id -un)" "$(svc_exe etcd)" --name test --data-dir "$ENV_DIR/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "test=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --log-level warn --quota-backend-bytes 2147483648
}

# CA, serving certificate (127.0.0.1, localhost, in-cluster names) and service-account key pair, once.
ensure_kube_pki() {
  local p=$ENV_DIR/kube/pki
  mkdir -p "$p"; chmod 0700 "$p"
  [ -s "$p/ca.crt" ] && [ -s "$p/apiserver.crt" ] && [ -s "$p/sa.key" ] && [ -s "$p/sa.pub" ] && return 0
  (
    set -e
    cd "$p"
    openssl genrsa -out ca.key 2048
    cat >ca.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = mqtt2pg-test-ca
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
EOF
    openssl req -x509 -new -key ca.key -days 3650 -config ca.cnf -out ca.crt
    openssl genrsa -out apiserver.key 2048
    openssl req -new -key apiserver.key -subj /CN=kube-apiserver -out apiserver.csr
    cat >apiserver.ext <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
authorityKeyIdentifier = keyid
EOF
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
      -days 3650 -extfile apiserver.ext -out apiserver.crt
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
    rm -f apiserver.csr
  ) >>"$ENV_DIR/logs/kube-apiserver.log" 2>&1 || die "kube-apiserver: generating certificates with openssl failed (see $ENV_DIR/logs/kube-apiserver.log)"
}

prepare_kube-apiserver() {
  need_tool kube-apiserver
  local k=$ENV_DIR/kube
  mkdir -p "$k"; chmod 0700 "$k"
  ensure_kube_pki
  (umask 077; printf '%s,admin,admin,"system:masters"\n' "$(cred kube-admin-token)" >"$k/tokens.csv")
  write_kubeconfig
}
start_kube-apiserver() {
  local k=$ENV_DIR/kube
  launch kube-apiserver "$(id -un)" "$(svc_exe kube-apiserver)" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$KUBE_PORT" \
    --endpoint-reconciler-type=none \
    --cert-dir="$k/pki" --tls-cert-file="$k/pki/apiserver.crt" --tls-private-key-file="$k/pki/apiserver.key" \
    --client-ca-file="$k/pki/ca.crt" \
    --token-auth-file="$k/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --api-audiences=https://kubernetes.default.svc \
    --service-account-key-file="$k/pki/sa.pub" --service-account-signing-key-file="$k/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --disable-admission-plugins=ServiceAccount \
    --enable-priority-and-fairness=false \
    --allow-privileged=true \
    --profiling=false \
    --v=1
}

write_kubeconfig() {
  local f=$ENV_DIR/kubeconfig
  (umask 077; cat >"$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mqtt2pg-test
  cluster:
    server: https://127.0.0.1:$KUBE_PORT
    certificate-authority-data: $(base64 -w0 <"$ENV_DIR/kube/pki/ca.crt")
users:
- name: admin
  user:
    token: $(cred kube-admin-token)
contexts:
- name: mqtt2pg-test
  context:
    cluster: mqtt2pg-test
    user: admin
    namespace: default
current-context: mqtt2pg-test
EOF
  mv "$f.tmp" "$f")
}
