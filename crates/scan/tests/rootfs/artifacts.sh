#!/usr/bin/env bash
# Builds the language-artifact fixture into $1 with the real toolchains, each as its ecosystem
# would put it in an image:
#   app/go/hello            a Go binary (module with a replaced local dependency)
#   app/rust/hello          a Rust binary built with cargo-auditable (crate dependency: itoa)
#   app/python/             six installed by pip --target (a real *.dist-info/METADATA)
#   app/node/               is-number installed by npm (node_modules + package-lock.json)
#   app/java/demo-1.2.3.jar a jar with pom.properties and a nested jar (built with javac + jar)
set -euo pipefail
out="$1"
work="$out.work"
rm -rf "$work" "$out.tmp"
mkdir -p "$work" "$out.tmp/app/go" "$out.tmp/app/rust" "$out.tmp/app/python" "$out.tmp/app/node" "$out.tmp/app/java"

need() { command -v "$1" >/dev/null || { echo "artifacts.sh: $1 missing: run scripts/install-peers.sh" >&2; exit 1; }; }
need go; need cargo; need pip; need npm; need javac; need jar
cargo auditable --version >/dev/null 2>&1 || { echo "artifacts.sh: cargo-auditable missing: run scripts/install-peers.sh" >&2; exit 1; }

# Go: the main module depends on example.com/greet, replaced by a local directory.
mkdir -p "$work/go/greet" "$work/go/hello"
cat > "$work/go/greet/go.mod" <<'G'
module example.com/greet

go 1.19
G
cat > "$work/go/greet/greet.go" <<'G'
package greet

func Hello() string { return "hello" }
G
cat > "$work/go/hello/go.mod" <<'G'
module example.com/hello

go 1.19

require example.com/greet v1.4.0

replace example.com/greet v1.4.0 => ../greet
G
cat > "$work/go/hello/main.go" <<'G'
package main

import (
	"fmt"

	"example.com/greet"
)

func main() { fmt.Println(greet.Hello()) }
G
(cd "$work/go/hello" && GOFLAGS=-mod=mod GOPROXY=off GOWORK=off CGO_ENABLED=0 go build -buildvcs=false -o "$out.tmp/app/go/hello" .)
# The toolchain's version is what both tools report for the Go standard library; the
# expectation file refers to it as {go}.
go env GOVERSION | sed 's/^go//' >"$out.go-version"

# Rust: cargo-auditable embeds the dependency tree in the .dep-v0 section.
mkdir -p "$work/rust/src"
cat > "$work/rust/Cargo.toml" <<'R'
[package]
name = "hello-audit"
version = "0.3.1"
edition = "2021"

[dependencies]
itoa = "=1.0.11"

[workspace]
R
cat > "$work/rust/src/main.rs" <<'R'
fn main() {
    let mut b = itoa::Buffer::new();
    println!("{}", b.format(42));
}
R
(cd "$work/rust" && CARGO_TARGET_DIR="$work/rust/target" cargo auditable build --release -q)
cp "$work/rust/target/release/hello-audit" "$out.tmp/app/rust/hello"

# Python: a wheel installed the way pip installs it in an image.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --target "$out.tmp/app/python/site-packages" six==1.16.0
rm -rf "$out.tmp/app/python/site-packages/__pycache__"

# npm: a package installed with its lockfile.
(cd "$out.tmp/app/node" && echo '{"name":"node-fixture","version":"1.0.0","private":true}' > package.json \
  && npm install --silent --no-audit --no-fund is-number@7.0.0 >/dev/null)

# Java: a jar with Maven metadata that nests another jar (as Spring Boot jars do).
mkdir -p "$work/java/inner/com/example/inner" "$work/java/inner/META-INF/maven/com.example/inner-lib" \
  "$work/java/outer/com/example/demo" "$work/java/outer/META-INF/maven/com.example/demo" "$work/java/outer/BOOT-INF/lib"
cat > "$work/java/inner/com/example/inner/Inner.java" <<'J'
package com.example.inner;
public class Inner { public static String name() { return "inner"; } }
J
printf 'groupId=com.example\nartifactId=inner-lib\nversion=0.9.1\n' > "$work/java/inner/META-INF/maven/com.example/inner-lib/pom.properties"
(cd "$work/java/inner" && javac -d . com/example/inner/Inner.java && jar cf "$work/java/outer/BOOT-INF/lib/inner-lib-0.9.1.jar" com META-INF/maven)
cat > "$work/java/outer/com/example/demo/Main.java" <<'J'
package com.example.demo;
public class Main { public static void main(String[] a) { System.out.println("demo"); } }
J
printf 'groupId=com.example\nartifactId=demo\nversion=1.2.3\n' > "$work/java/outer/META-INF/maven/com.example/demo/pom.properties"
printf 'Implementation-Title: demo\nImplementation-Version: 1.2.3\n' > "$work/java/manifest.txt"
(cd "$work/java/outer" && javac -d . com/example/demo/Main.java && jar cfm "$out.tmp/app/java/demo-1.2.3.jar" "$work/java/manifest.txt" com META-INF/maven BOOT-INF)

rm -rf "$work" "$out"
mv "$out.tmp" "$out"
