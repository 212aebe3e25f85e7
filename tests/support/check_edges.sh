#!/usr/bin/env bash
# Crate edges that match the architecture (issue 12): exits non-zero on the first violation.
#
# - runtime and app depend on no Lambda or AWS crate;
# - aws does not depend on chain;
# - no production crate compiles the in-memory twins (vanta-domain's `test-fakes`);
# - webhook links no Telegram client, no alloy stack and no vanta-chain (the signal intake
#   reads no price and asks no RPC); notifier links no alloy stack and no vanta-chain;
# - no function links the SDKs' legacy hyper 0.14 connector (a second TLS stack, rustls 0.21);
# - no function links the SDK's SSO/credential-process providers (Lambda gives credentials in
#   the environment; only the ops CLI reads operators' profiles).
#
# `alloy-primitives` (and its small helpers alloy-rlp, alloy-sol-*) are the domain's own types
# (addresses, hashes), so "no alloy" means none of the alloy client stack: the `alloy` umbrella
# crate, its providers, signers, transports, contract and network crates.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail=0
tree() { cargo tree --quiet --locked "$@" 2>/dev/null || cargo tree --quiet "$@"; }
must_not_match() { # <what> <pattern> <cargo tree args...>
    local what=$1 pattern=$2
    shift 2
    local hits
    hits=$(tree "$@" | grep -E "$pattern" | sort -u || true)
    if [[ -n $hits ]]; then
        echo "edge violation: $what"
        echo "$hits" | sed 's/^/    /'
        fail=1
    else
        echo "ok: $what"
    fi
}

ALLOY_STACK=' (alloy|alloy-(provider|signer|signer-aws|signer-local|transport|transport-http|contract|network|rpc-client|rpc-types-eth|consensus)) v'

must_not_match "vanta-app depends on no Lambda or AWS crate" ' (lambda_http|lambda_runtime|aws_lambda_events|aws-config|aws-sdk-[a-z]+) v' -p vanta-app -e normal
must_not_match "vanta-runtime depends on no Lambda or AWS crate" ' (lambda_http|lambda_runtime|aws_lambda_events|aws-config|aws-sdk-[a-z]+) v' -p vanta-runtime -e normal
must_not_match "vanta-aws does not depend on vanta-chain" ' vanta-chain v' -p vanta-aws
must_not_match "webhook links no Telegram client" ' (vanta-telegram|teloxide-core) v' -p vanta-fn-webhook -e normal
must_not_match "webhook links no alloy stack or vanta-chain" "$ALLOY_STACK| vanta-chain v" -p vanta-fn-webhook -e normal
must_not_match "notifier links no alloy stack or vanta-chain" "$ALLOY_STACK| vanta-chain v" -p vanta-fn-notifier -e normal
for fn in webhook telegram signal-worker tpsl indexer notifier; do
    must_not_match "$fn compiles no in-memory twins (test-fakes)" 'vanta-domain feature "test-fakes"' -p "vanta-fn-$fn" -e normal,features
    must_not_match "$fn links no legacy hyper 0.14 connector (a second TLS stack)" ' (hyper v0\.14|hyper-rustls v0\.24|rustls v0\.21)\.' -p "vanta-fn-$fn" -e normal
    must_not_match "$fn links no SSO or credential-process provider" ' aws-sdk-sso(oidc)? v|aws-config feature "(sso|credentials-process)"' -p "vanta-fn-$fn" -e normal,features
done
# And the functions as `sam build` builds them (all default members at once, features unified).
must_not_match "the functions built together link no SSO provider" ' aws-sdk-sso(oidc)? v' -e normal

exit $fail
