# cross_tools.sh: sourced by tools/cross.sh and tools/cross_python.sh.
# require_tools CMD... : each command must exist; if some are missing and we
# are root with apt-get (CI, a container), install the Debian packages that
# provide them; otherwise say exactly how to get them and fail.
CROSS_PACKAGES="gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user"

package_of() {
    case "$1" in
    aarch64-linux-gnu-gcc) echo gcc-aarch64-linux-gnu ;;
    arm-linux-gnueabihf-gcc) echo gcc-arm-linux-gnueabihf ;;
    qemu-aarch64 | qemu-arm) echo qemu-user ;;
    debootstrap) echo debootstrap ;;
    dpkg-deb) echo dpkg ;;
    *) echo "$1" ;;
    esac
}

require_tools() {
    local missing=() pkgs=() t p
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    for t in "${missing[@]}"; do
        p=$(package_of "$t")
        case " ${pkgs[*]} " in *" $p "*) ;; *) pkgs+=("$p") ;; esac
    done
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "cross: installing ${pkgs[*]} (missing: ${missing[*]})"
        apt-get install -y -q "${pkgs[@]}" >/dev/null ||
            { apt-get update -q >/dev/null && apt-get install -y -q "${pkgs[@]}" >/dev/null; }
        return 0
    fi
    echo "cross: missing ${missing[*]}." >&2
    echo "cross: on Debian/Ubuntu: sudo apt-get install -y ${pkgs[*]}" >&2
    exit 1
}
