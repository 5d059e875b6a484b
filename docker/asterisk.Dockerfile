# Asterisk 22 from the same Debian packages the test bench installs (scripts/provision-asterisk.sh).
FROM debian:sid-slim
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-core-sounds-en-wav asterisk-moh-opsound-wav \
 && rm -rf /var/lib/apt/lists/*
# The configuration is rendered from asterisk-conf/ by the asterisk-config service into
# /srv/asterisk/etc; spool (recordings, voicemail), logs and astdb live beside it.
CMD ["asterisk", "-f", "-n", "-C", "/srv/asterisk/etc/asterisk.conf"]
