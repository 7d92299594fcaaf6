package stdlib

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/zclconf/go-cty/cty"
)

// System setup macros: user, ca_certificates and timezone. They run as
// root and work on Debian, Ubuntu, Alpine, Fedora-like and busybox images.

// User creates a user and its group.
var User = Macro{
	Name: "user",
	Doc:  "Creates a user (and its group) with useradd where the image has it, else with busybox adduser.",
	Attributes: []MacroAttribute{
		{Name: "name", Type: cty.String, Required: true, Doc: "The user name."},
		{Name: "uid", Type: cty.Number, Doc: "The user id; unset lets the system choose."},
		{Name: "gid", Type: cty.Number, Doc: "The primary group's id; a group of the user's name is created unless one with this id exists (default: the uid)."},
		{Name: "home", Type: cty.String, Doc: "The home directory, created (default /home/NAME)."},
		{Name: "shell", Type: cty.String, Doc: "The login shell (default /bin/sh)."},
	},
	Expand: expandUser,
}

// userNamePattern is the portable user name of POSIX and shadow-utils'
// default NAME_REGEX, which busybox accepts too.
var userNamePattern = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

func expandUser(attrs map[string]cty.Value) ([]MacroStep, error) {
	name := attrString(attrs, "name", "")
	if !userNamePattern.MatchString(name) {
		return nil, fmt.Errorf("%q is not a portable user name; use up to 32 lower-case letters, digits, _ and -, starting with a letter or _", name)
	}
	uid, uidSet, err := attrInt(attrs, "uid")
	if err != nil {
		return nil, err
	}
	gid, gidSet, err := attrInt(attrs, "gid")
	if err != nil {
		return nil, err
	}
	if !gidSet && uidSet {
		gid, gidSet = uid, true
	}
	home, err := absPath("home", attrString(attrs, "home", "/home/"+name))
	if err != nil {
		return nil, err
	}
	shell, err := absPath("shell", attrString(attrs, "shell", "/bin/sh"))
	if err != nil {
		return nil, err
	}
	var uidFlag string
	if uidSet {
		uidFlag = " -u " + strconv.Itoa(uid)
	}
	var sh string
	if gidSet {
		// Reuse a group that already has the gid (such as users, 100);
		// otherwise create one named after the user.
		g := strconv.Itoa(gid)
		sh = "if ! grep -q '^[^:]*:[^:]*:" + g + ":' /etc/group; then " +
			"if command -v groupadd >/dev/null 2>&1; then groupadd -g " + g + " " + name + "; else addgroup -g " + g + " " + name + "; fi; fi" +
			" && group=$(awk -F: '$3 == " + g + " { print $1; exit }' /etc/group)" +
			" && if command -v useradd >/dev/null 2>&1; then useradd -l -m -d " + home + " -s " + shell + uidFlag + " -g \"$group\" " + name +
			"; else adduser -D -h " + home + " -s " + shell + uidFlag + " -G \"$group\" " + name + "; fi"
	} else {
		sh = "if command -v useradd >/dev/null 2>&1; then useradd -l -m -U -d " + home + " -s " + shell + uidFlag + " " + name +
			"; else adduser -D -h " + home + " -s " + shell + uidFlag + " " + name + "; fi"
	}
	return []MacroStep{{
		Kind: StepRun,
		Sh:   sh,
		User: "root",
		// The account databases and their backups and locks, the
		// subordinate id ranges useradd assigns, and the login records
		// it resets.
		Reads:  []string{"/bin", "/etc", "/sbin", "/usr"},
		Writes: []string{"/etc", "/var/log", "/var/mail", "/var/spool/mail", home},
	}}, nil
}

// CACertificates installs the distribution's CA certificate bundle.
var CACertificates = Macro{
	Name:   "ca_certificates",
	Doc:    "Installs the CA certificate bundle (/etc/ssl/certs) with apt-get, apk or dnf, whichever the image has.",
	Expand: expandCACertificates,
}

func expandCACertificates(map[string]cty.Value) ([]MacroStep, error) {
	sh, mounts := installAny([]string{"ca-certificates"})
	return []MacroStep{{
		Kind:   StepRun,
		Sh:     sh,
		Env:    [][2]string{{"DEBIAN_FRONTEND", "noninteractive"}},
		User:   "root",
		Mounts: mounts,
		Reads:  systemReads(),
		Writes: systemWrites(),
	}}, nil
}

// Timezone sets the system time zone.
var Timezone = Macro{
	Name: "timezone",
	Doc:  "Sets the system time zone (/etc/localtime and /etc/timezone), installing tzdata first unless told not to.",
	Attributes: []MacroAttribute{
		{Name: "zone", Type: cty.String, Required: true, Doc: "An IANA time zone name such as Europe/Berlin or UTC."},
		{Name: "install", Type: cty.Bool, Doc: "Install tzdata with apt-get, apk or dnf first (default true); false when the image already has /usr/share/zoneinfo."},
	},
	Expand: expandTimezone,
}

var zonePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)

func expandTimezone(attrs map[string]cty.Value) ([]MacroStep, error) {
	zone := attrString(attrs, "zone", "")
	if !zonePattern.MatchString(zone) {
		return nil, fmt.Errorf("%q is not an IANA time zone name; write one such as Europe/Berlin, America/New_York or UTC", zone)
	}
	link := "if [ ! -f /usr/share/zoneinfo/" + zone + " ]; then echo 'time zone " + zone + " is not in /usr/share/zoneinfo' >&2; exit 1; fi" +
		" && ln -sf /usr/share/zoneinfo/" + zone + " /etc/localtime && echo " + zone + " > /etc/timezone"
	step := MacroStep{Kind: StepRun, User: "root"}
	if attrBool(attrs, "install", true) {
		install, mounts := installAny([]string{"tzdata"})
		step.Sh = "{ " + install + "; } && " + link
		step.Env = [][2]string{{"DEBIAN_FRONTEND", "noninteractive"}}
		step.Mounts = mounts
		step.Reads, step.Writes = systemReads(), systemWrites()
	} else {
		step.Sh = link
		step.Reads = []string{"/usr/share/zoneinfo"}
		step.Writes = []string{"/etc/localtime", "/etc/timezone"}
	}
	return []MacroStep{step}, nil
}
