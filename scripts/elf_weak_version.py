"""Marks one version requirement of an ELF64 little-endian shared library weak, in place.

    python3 scripts/elf_weak_version.py LIB.so GLIBCXX_3.4.32

Walks the SHT_GNU_verneed section (.gnu.version_r): Elf64_Verneed records (vn_version, vn_cnt, vn_file, vn_aux,
vn_next) each followed by Elf64_Vernaux records (vna_hash, vna_flags, vna_other, vna_name, vna_next); names are
offsets into the string table named by the section's sh_link. Sets VER_FLG_WEAK (0x2) in vna_flags of every entry
named VERSION; exits 1 when there is none. Standard library only. Used by scripts/patch-torchsharp.sh.
"""
import struct
import sys

SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def main(path, version):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            sys.exit("%s: not an ELF64 little-endian file" % path)
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
        marked = 0
        for sh in sections:
            if sh[1] != SHT_GNU_VERNEED:
                continue
            strtab_off = sections[sh[6]][4]
            count = sh[7]  # sh_info: number of Verneed records

            def name_at(offset):
                start = strtab_off + offset
                return bytes(data[start:data.index(b"\0", start)]).decode()

            need = sh[4]
            for _ in range(count):
                _, vn_cnt, _, vn_aux, vn_next = struct.unpack_from("<HHIII", data, need)
                aux = need + vn_aux
                for _ in range(vn_cnt):
                    _, flags, _, vna_name, vna_next = struct.unpack_from("<IHHII", data, aux)
                    if name_at(vna_name) == version:
                        struct.pack_into("<H", data, aux + 4, flags | VER_FLG_WEAK)
                        marked += 1
                    aux += vna_next
                need += vn_next
        if not marked:
            sys.exit("%s: no version requirement %s" % (path, version))
        f.seek(0)
        f.write(data)
    print("%s: %s marked weak (%d entr%s)" % (path, version, marked, "y" if marked == 1 else "ies"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: elf_weak_version.py LIB.so VERSION")
    main(sys.argv[1], sys.argv[2])
