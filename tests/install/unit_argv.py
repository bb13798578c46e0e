#!/usr/bin/env python3
"""unit_argv.py: the command systemd would run for a unit's ExecStart.

Usage: unit_argv.py UNIT_FILE INSTANCE [NAME=VALUE...]

Reads the [Service] section's Environment= and EnvironmentFile= settings (in
that order of precedence: files override Environment=, later files override
earlier ones), applies the NAME=VALUE overrides last (as a drop-in would),
and expands ExecStart by systemd's rules (systemd.service(5), "Command
lines"): %i and %% specifiers; a word that is exactly $NAME becomes the
value split at whitespace (zero or more words); ${NAME} anywhere in a word is
replaced by the value, as one word. Prints, NUL-terminated for
`mapfile -d ''`, an env(1) command that runs it as systemd would: with only
systemd's PATH and the unit's environment. Only what zfarm's units use is
implemented."""
import re
import shlex
import sys

# The PATH systemd gives services (systemd.exec(5), "Environment").
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def service_settings(path):
    """(key, value) pairs of the [Service] section, in order."""
    section, pairs = None, []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line:
            key, value = line.split("=", 1)
            pairs.append((key.strip(), value.strip()))
    return pairs


def specifiers(text, instance):
    return re.sub(r"%([i%])",
                  lambda m: instance if m.group(1) == "i" else "%", text)


def environment_file(path):
    """NAME=VALUE lines with shell-like quoting, as systemd reads them."""
    env = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        name, value = line.split("=", 1)
        words = shlex.split(value)
        env[name.strip()] = " ".join(words)
    return env


def expand(command, env):
    argv = []
    for word in shlex.split(command):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            argv.extend(env.get(whole.group(1), "").split())
            continue
        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                           lambda m: env.get(m.group(1), ""), word))
    return argv


def main():
    unit, instance, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
    env, files, command = {}, [], None
    for key, value in service_settings(unit):
        value = specifiers(value, instance)
        if key == "Environment":
            for assignment in shlex.split(value):
                name, text = assignment.split("=", 1)
                env[name] = text
        elif key == "EnvironmentFile":
            files.append(value)
        elif key == "ExecStart":
            command = value
    for path in files:
        optional = path.startswith("-")
        try:
            env.update(environment_file(path.lstrip("-")))
        except FileNotFoundError:
            if not optional:
                raise
    for assignment in overrides:
        name, text = assignment.split("=", 1)
        env[name] = text
    if command is None:
        sys.exit(f"{unit}: no ExecStart")
    words = ["env", "-i", "PATH=" + SYSTEMD_PATH]
    words += [f"{name}={text}" for name, text in env.items()]
    words += expand(command, env)
    for word in words:
        sys.stdout.write(word + "\0")


if __name__ == "__main__":
    main()
