#!/bin/sh
# Turns a minimal Debian root file system into a lab host image: systemd as PID 1
# inside an unprivileged container, the build host's extra CA certificates trusted,
# apt and pip pointed at the lab's shared caches when those answer.
#
# Runs inside the image root: from mmdebstrap as a chroot hook, or as a Dockerfile RUN.
set -eu

# Extra CA certificates were copied to /usr/local/share/ca-certificates by the builder.
update-ca-certificates >/dev/null 2>&1

# Units that need kernel access an unprivileged container does not have; masked so
# that `systemctl is-system-running` reports "running" instead of "degraded".
systemctl mask \
  systemd-modules-load.service \
  sys-kernel-config.mount \
  sys-kernel-debug.mount \
  sys-kernel-tracing.mount \
  systemd-firstboot.service \
  getty.target \
  console-getty.service >/dev/null 2>&1

# apt uses the lab's caching proxy (container alias "apt-cache") when it answers and
# goes direct otherwise, so the same image works with and without the cache.
mkdir -p /usr/local/lib/lab
cat >/usr/local/lib/lab/apt-proxy-detect <<'EOF'
#!/bin/bash
# apt.conf(5) Proxy-Auto-Detect: print the proxy URL, or DIRECT.
if getent hosts apt-cache >/dev/null 2>&1 \
   && timeout 1 bash -c 'exec 3<>/dev/tcp/apt-cache/3142' 2>/dev/null; then
  echo "http://apt-cache:3142"
else
  echo DIRECT
fi
EOF
chmod 0755 /usr/local/lib/lab/apt-proxy-detect
cat >/etc/apt/apt.conf.d/01lab-proxy <<'EOF'
Acquire::http::Proxy-Auto-Detect "/usr/local/lib/lab/apt-proxy-detect";
EOF

# pip keeps its download and wheel cache on a volume every lab host shares.
cat >/etc/pip.conf <<'EOF'
[global]
cache-dir = /var/cache/lab-pip
EOF

# A fresh machine id per container (systemd generates one at boot when empty).
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/*
