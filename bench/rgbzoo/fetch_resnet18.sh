#!/usr/bin/env bash
# Fetches the ImageNet-pretrained ResNet-18 (ONNX, CNTK export) from the NuGet package
# Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (MIT) into .cache/rgbzoo-data/ (idempotent).
#   bench/rgbzoo/fetch_resnet18.sh [DEST]
# Also extracts a few sample photos from Debian's opencv-doc (apt-get download, no install).
# Uses the configured NuGet sources (the local mirror) through `dotnet restore` of a throwaway project.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dest="${1:-$repo/.cache/rgbzoo-data}"
package=Microsoft.ML.DnnImageFeaturizer.ResNet18
version=0.23.1
marker="$dest/.fetched-$package.$version"

mkdir -p "$dest"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Sample photos from Debian's opencv-doc (examples/data), used by two tasks as real colour images.
photos=(fruits.jpg baboon.jpg home.jpg squirrel_cls.jpg butterfly.jpg messi5.jpg building.jpg smarties.png)
data=usr/share/doc/opencv-doc/examples/data
if [ ! -f "$dest/opencv-doc/.extracted" ]; then
  (cd "$work" && apt-get download opencv-doc >/dev/null)
  mkdir -p "$dest/opencv-doc"
  dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb \
    | tar -x -C "$dest/opencv-doc" $(printf "./$data/%s " "${photos[@]}") ./usr/share/doc/opencv-doc/copyright
  rm -f "$work"/opencv-doc_*.deb
  touch "$dest/opencv-doc/.extracted"
fi

if [ -f "$marker" ] && [ -f "$dest/ResNet18.onnx" ]; then
  exit 0
fi
cat > "$work/fetch.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <ImportDirectoryBuildProps>false</ImportDirectoryBuildProps>
    <ImportDirectoryBuildTargets>false</ImportDirectoryBuildTargets>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="$package" Version="[$version]" />
  </ItemGroup>
</Project>
XML
# A private packages folder keeps the global NuGet cache untouched.
(cd "$work" && dotnet restore fetch.csproj --packages "$work/packages" -v quiet >/dev/null)
pkg="$work/packages/$(echo "$package" | tr 'A-Z' 'a-z')/$version"
[ -d "$pkg" ] || { echo "fetch_resnet18.sh: $pkg missing after restore" >&2; exit 1; }
models="$pkg/tools/DnnImageModels"
cp "$models/ResNet18Onnx/ResNet18.onnx" "$dest/ResNet18.onnx"
# The package's preprocessing graph (pixel scaling / mean subtraction), when present.
for f in "$models"/*/*.onnx; do
  [ "$(basename "$f")" = ResNet18.onnx ] && continue
  cp "$f" "$dest/$(basename "$f")"
done
(cd "$pkg" && find . -type f | sort) > "$dest/package-files.txt"
for f in LICENSE LICENSE.txt; do [ -f "$pkg/$f" ] && cp "$pkg/$f" "$dest/$f"; done
touch "$marker"
