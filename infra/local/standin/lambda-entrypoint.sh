#!/bin/sh
# /lambda-entrypoint.sh of lamina's stand-in base image: the contract of the AWS Lambda base
# images. The image's CMD is the handler; the runtime (/var/runtime/bootstrap) runs it
# through awslambdaric. On Lambda, and under `sam local` (which starts the emulator itself and
# passes this script to it), AWS_LAMBDA_RUNTIME_API is set: run the runtime. Without it, run
# the runtime under the Runtime Interface Emulator (HTTP on :8080), as `docker run` of an AWS
# base image does.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"

RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec "$RUNTIME_ENTRYPOINT"
fi
if [ -x /usr/local/bin/aws-lambda-rie ]; then
  exec /usr/local/bin/aws-lambda-rie "$RUNTIME_ENTRYPOINT"
fi
echo "AWS_LAMBDA_RUNTIME_API is not set and no emulator is at /usr/local/bin/aws-lambda-rie" 1>&2
exit 142
