package stdlib

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
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

func expandUser(attrs map[string]cty.Value) ([]model.Step, error) {
	var errs argErrors
	name := attrString(attrs, "name", "")
	if !userNamePattern.MatchString(name) {
		errs.add("name", "%q is not a portable user name; use up to 32 lower-case letters, digits, _ and -, starting with a letter or _", name)
	}
	uid, uidSet, err := attrInt(attrs, "uid")
	errs.check("uid", err)
	gid, gidSet, err := attrInt(attrs, "gid")
	errs.check("gid", err)
	if !gidSet && uidSet {
		gid, gidSet = uid, true
	}
	home, err := absPath("home", attrString(attrs, "home", "/home/"+name))
	if v, set := attrs["home"]; (set && !v.IsNull()) || userNamePattern.MatchString(name) {
		// A default home is only as bad as the name it is made of.
		errs.check("home", err)
	}
	shell, err := absPath("shell", attrString(attrs, "shell", "/bin/sh"))
	errs.check("shell", err)
	if err := errs.err(); err != nil {
		return nil, err
	}
	sh := userScript(name, home, shell, uid, uidSet, gid, gidSet)
	return []model.Step{&model.Run{
		Command: &model.Sh{Script: sh},
		User:    "root",
		// The account databases and their backups and locks, the
		// subordinate id ranges useradd assigns, and the login records
		// it resets.
		Reads:  []string{"/bin", "/etc", "/sbin", "/usr"},
		Writes: []string{"/etc", "/var/log", "/var/mail", "/var/spool/mail", home},
	}}, nil
}

// userScript creates the user with shadow-utils' useradd (Debian, Ubuntu,
// Fedora), else busybox's adduser (Alpine), else, for images that have
// neither (busybox builds without them, distroless-like bases), by
// appending to /etc/passwd, /etc/group and /etc/shadow the entries the
// tools would write.
func userScript(name, home, shell string, uid int, uidSet bool, gid int, gidSet bool) string {
	u, g := strconv.Itoa(uid), strconv.Itoa(gid)
	var uidFlag string
	if uidSet {
		uidFlag = " -u " + u
	}
	var b strings.Builder
	// A free uid for the fallback: above every regular user's, from 1000.
	const freeUID = "$(awk -F: '$3 >= 1000 && $3 < 60000 && $3 >= m { m = $3 + 1 } END { print (m ? m : 1000) }' /etc/passwd)"
	if gidSet {
		// Reuse a group that already has the gid (such as users, 100);
		// otherwise create one named after the user.
		b.WriteString("if ! grep -q '^[^:]*:[^:]*:" + g + ":' /etc/group; then " +
			"if command -v groupadd >/dev/null 2>&1; then groupadd -g " + g + " " + name +
			"; elif command -v addgroup >/dev/null 2>&1; then addgroup -g " + g + " " + name +
			"; else echo '" + name + ":x:" + g + ":' >> /etc/group; fi; fi" +
			" && group=$(awk -F: '$3 == " + g + " { print $1; exit }' /etc/group)" +
			" && if command -v useradd >/dev/null 2>&1; then useradd -l -m -d " + home + " -s " + shell + uidFlag + " -g \"$group\" " + name +
			"; elif command -v adduser >/dev/null 2>&1; then adduser -D -h " + home + " -s " + shell + uidFlag + " -G \"$group\" " + name + "; else ")
		if uidSet {
			b.WriteString("uid=" + u)
		} else {
			b.WriteString("uid=" + freeUID)
		}
		b.WriteString(" && gid=" + g)
	} else {
		// Neither id given: the tools choose, and make a group of the
		// user's name with the same id.
		b.WriteString("if command -v useradd >/dev/null 2>&1; then useradd -l -m -U -d " + home + " -s " + shell + " " + name +
			"; elif command -v adduser >/dev/null 2>&1; then adduser -D -h " + home + " -s " + shell + " " + name +
			"; else uid=" + freeUID + " && gid=$uid && echo \"" + name + ":x:$gid:\" >> /etc/group")
	}
	b.WriteString(" && echo \"" + name + ":x:$uid:$gid::" + home + ":" + shell + "\" >> /etc/passwd" +
		" && if [ -f /etc/shadow ]; then echo '" + name + ":!:::::::' >> /etc/shadow; fi" +
		" && mkdir -p " + home + " && chown $uid:$gid " + home + "; fi")
	return b.String()
}

// CACertificates installs the distribution's CA certificate bundle.
var CACertificates = Macro{
	Name:   "ca_certificates",
	Doc:    "Installs the CA certificate bundle (/etc/ssl/certs) with apt-get, apk or dnf, whichever the image has.",
	Expand: expandCACertificates,
}

func expandCACertificates(map[string]cty.Value) ([]model.Step, error) {
	sh, mounts := installAny([]string{"ca-certificates"})
	return []model.Step{&model.Run{
		Command: &model.Sh{Script: sh},
		Env:     []model.EnvVar{{Name: "DEBIAN_FRONTEND", Value: "noninteractive"}},
		User:    "root",
		Mounts:  mounts,
		Reads:   systemReads(),
		Writes:  systemWrites(),
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

func expandTimezone(attrs map[string]cty.Value) ([]model.Step, error) {
	zone := attrString(attrs, "zone", "")
	if !zonePattern.MatchString(zone) {
		return nil, &ArgError{Attr: "zone", Err: fmt.Errorf("%q is not an IANA time zone name; write one such as Europe/Berlin, America/New_York or UTC", zone)}
	}
	link := "if [ ! -f /usr/share/zoneinfo/" + zone + " ]; then echo 'time zone " + zone + " is not in /usr/share/zoneinfo' >&2; exit 1; fi" +
		" && ln -sf /usr/share/zoneinfo/" + zone + " /etc/localtime && echo " + zone + " > /etc/timezone"
	step := &model.Run{User: "root"}
	if attrBool(attrs, "install", true) {
		install, mounts := installAny([]string{"tzdata"})
		step.Command = &model.Sh{Script: "{ " + install + "; } && " + link}
		step.Env = []model.EnvVar{{Name: "DEBIAN_FRONTEND", Value: "noninteractive"}}
		step.Mounts = mounts
		step.Reads, step.Writes = systemReads(), systemWrites()
	} else {
		step.Command = &model.Sh{Script: link}
		step.Reads = []string{"/usr/share/zoneinfo"}
		step.Writes = []string{"/etc/localtime", "/etc/timezone"}
	}
	return []model.Step{step}, nil
}
