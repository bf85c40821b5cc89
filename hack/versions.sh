# Pinned versions of everything hack/ builds or installs. Sourced by the other scripts.
KUBE_VERSION=v1.36.3
KUBE_STAGING_VERSION=v0.36.3
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.21.4
RG_CACHE="${RG_CACHE:-$HOME/.cache/releaseguard}"
RG_BIN="$RG_CACHE/bin/kube-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
