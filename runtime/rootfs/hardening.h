// What docker does by default to a container's process, and the flags that
// change it (docker's names, docker's meaning):
//
//  * no_new_privs (prctl PR_SET_NO_NEW_PRIVS): on by default in mydocker
//    (docker: off unless --security-opt no-new-privileges); turn it off with
//    --security-opt no-new-privileges=false.
//  * capabilities: docker's default set (kDockerDefaultCaps) in the bounding,
//    effective and permitted sets; the inheritable and ambient sets empty (as
//    docker since 20.10.14); --cap-add / --cap-drop NAME|ALL, with or without
//    the CAP_ prefix, any case; drops apply after adds, except that "ALL" in
//    --cap-add wins (docker's order).
//  * seccomp: docker's default policy (DefaultSeccompProfile), in docker's
//    JSON format (defaultAction, defaultErrnoRet, archMap, syscalls with
//    names, action, errnoRet, args, includes/excludes by caps, arches,
//    minKernel);
//    --security-opt seccomp=unconfined or seccomp=FILE. The BPF program is
//    made with libseccomp in the parent, before clone, and loaded in the
//    child through Sys (SeccompFilter).
//  * masked paths (kMaskedPaths: a read-only empty tmpfs on a directory,
//    /dev/null on a file) and read-only paths (kReadonlyPaths: bound onto
//    themselves read-only); /sys is mounted read-only.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

// The capability named name ("CAP_NET_ADMIN", "net_admin"); -1 if unknown.
int CapabilityNumber(const std::string& name);
// "CAP_NET_ADMIN" for 12; "" for an unknown number.
std::string CapabilityName(int cap);
// The highest capability number this build knows (CAP_CHECKPOINT_RESTORE).
constexpr int kLastKnownCap = 40;

// docker's default set (moby oci/caps/defaults.go): CHOWN, DAC_OVERRIDE,
// FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
// NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
uint64_t DockerDefaultCaps();

// The capability set from docker's default, --cap-add and --cap-drop.
// Errors name the flag and the unknown value. grantable is the runtime's own
// bounding set (OwnCapBounding): "ALL" in --cap-add means every capability
// in it (as docker does since it filters ALL by its bounding set), and a
// named --cap-add outside it is an EPERM error naming the capability, not a
// capset failure in the container's init.
Expected<uint64_t> ResolveCaps(const std::vector<std::string>& add,
                               const std::vector<std::string>& drop,
                               uint64_t grantable = ~uint64_t{0});

// The CapBnd line of /proc/self/status, read through sys; ~0 (every
// capability) when the file cannot be read or parsed (FakeKernel has no
// /proc/self/status): capset in the init is then the only check.
uint64_t OwnCapBounding(Sys& sys);

enum class SeccompMode : uint8_t { kDefault, kUnconfined, kFile };

struct SecuritySpec {
  bool no_new_privs = true;
  std::vector<std::string> cap_add, cap_drop;  // as given
  SeccompMode seccomp = SeccompMode::kDefault;
  std::string seccomp_file;                    // kFile
};

// Applies one --security-opt value ("seccomp=unconfined", "seccomp=FILE",
// "no-new-privileges", "no-new-privileges=true|false"); other options that
// docker has (apparmor=, label=, systempaths=unconfined) are refused with
// EINVAL and their name.
Outcome ApplySecurityOpt(SecuritySpec* spec, const std::string& opt);

// docker's masked and read-only paths (moby oci/defaults.go).
std::span<const char* const> MaskedPaths();
std::span<const char* const> ReadonlyPaths();

// The default seccomp profile, built in (runtime/CMakeLists.txt): Debian's
// containers-common profile (podman's default, SeccompBaseProfile) composed
// with what docker refuses beyond it (rootfs/seccomp_docker.json,
// SeccompDockerOverlay): keyctl, mount, unshare, setns, clone with
// namespace flags and others only with CAP_SYS_ADMIN (or their capability),
// EPERM otherwise. "" (and an error logged) if the built-in halves do not
// compose; a unit test proves they do.
const std::string& DefaultSeccompProfile();
const std::string& SeccompBaseProfile();
const std::string& SeccompDockerOverlay();

// Pure: base with overlay applied. The overlay's "remove" names and the
// names of its rules are taken out of every base rule (a rule left with no
// name is dropped), its rules appended, its defaultErrnoRet (if any) taken.
// Errors name which document and field is wrong.
Expected<std::string> ComposeSeccompProfile(const std::string& base, const std::string& overlay);

// Reads a profile in docker's JSON format (pure): the rules that apply to
// the native architecture, caps (the container's capability set) and the
// running kernel (release, "6.1.0-..."), as includes/excludes say; names
// libseccomp does not know are left to it (it skips them, as docker).
// Errors name the profile (where: the file) and the field.
Expected<SeccompRules> ParseSeccompProfile(const std::string& json, const std::string& where,
                                           uint64_t caps, const std::string& kernel_release);

}  // namespace mydocker
