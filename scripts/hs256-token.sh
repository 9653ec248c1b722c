#!/usr/bin/env bash
# Prints a JWT with the given claims, signed HS256 with SECRET (for benchmarks and scripts that
# load a route behind `jwt`; the tests sign theirs with the jsonwebtoken crate).
#
#   scripts/hs256-token.sh SECRET CLAIMS_JSON
#   scripts/hs256-token.sh s3cret '{"sub":"me","exp":1893456000}'
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SECRET CLAIMS_JSON" >&2; exit 2; }
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
claims=$(printf '%s' "$2" | b64url)
signature=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -hmac "$1" -binary | b64url)
echo "$header.$claims.$signature"
