package runc

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// user is a resolved process identity.
type user struct {
	uid, gid uint32
	gids     []uint32
	home     string
}

// ResolveUser maps "user[:group]" to ids using rootfs's /etc/passwd and /etc/group (numeric
// values pass through; unknown names are an error naming the user); gids includes supplementary
// groups. An empty user is root. A numeric uid missing from /etc/passwd gets gid 0, as in Docker.
func ResolveUser(rootfs, spec string) (uid, gid uint32, gids []uint32, err error) {
	u, err := resolveUser(context.Background(), rootfs, spec)
	if err != nil {
		return 0, 0, nil, err
	}
	return u.uid, u.gid, u.gids, nil
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

func resolveUser(ctx context.Context, rootfs, spec string) (user, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		if hasGroup {
			return user{}, fmt.Errorf("resolving user %q: empty user name", spec)
		}
		userPart = "0"
	}
	if hasGroup && groupPart == "" {
		return user{}, fmt.Errorf("resolving user %q: empty group name", spec)
	}
	passwdData, err := readFileInRoot(ctx, rootfs, "/etc/passwd")
	if err != nil {
		return user{}, fmt.Errorf("resolving user %q: %w", spec, err)
	}
	groupData, err := readFileInRoot(ctx, rootfs, "/etc/group")
	if err != nil {
		return user{}, fmt.Errorf("resolving user %q: %w", spec, err)
	}
	passwd := parsePasswd(string(passwdData))
	groups := parseGroup(string(groupData))

	u := user{home: "/"}
	var name string
	if id, ok := parseID(userPart); ok {
		u.uid = id
		for _, p := range passwd {
			if p.uid == id {
				name, u.gid, u.home = p.name, p.gid, p.home
				break
			}
		}
	} else {
		found := false
		for _, p := range passwd {
			if p.name == userPart {
				name, u.uid, u.gid, u.home = p.name, p.uid, p.gid, p.home
				found = true
				break
			}
		}
		if !found {
			return user{}, fmt.Errorf("resolving user %q: no user %q in the image's /etc/passwd", spec, userPart)
		}
	}
	if u.home == "" {
		u.home = "/"
	}
	if hasGroup {
		if id, ok := parseID(groupPart); ok {
			u.gid = id
		} else {
			found := false
			for _, g := range groups {
				if g.name == groupPart {
					u.gid = g.gid
					found = true
					break
				}
			}
			if !found {
				return user{}, fmt.Errorf("resolving user %q: no group %q in the image's /etc/group", spec, groupPart)
			}
		}
	}
	if name != "" {
		seen := map[uint32]bool{u.gid: true}
		for _, g := range groups {
			if seen[g.gid] {
				continue
			}
			for _, m := range g.members {
				if m == name {
					u.gids = append(u.gids, g.gid)
					seen[g.gid] = true
					break
				}
			}
		}
	}
	return u, nil
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// parsePasswd reads name:password:uid:gid:gecos:home:shell lines, skipping
// comments and malformed ones as libc does.
func parsePasswd(data string) []passwdEntry {
	var out []passwdEntry
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		uid, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		if !ok1 || !ok2 {
			continue
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	}
	return out
}

// parseGroup reads name:password:gid:member,member lines.
func parseGroup(data string) []groupEntry {
	var out []groupEntry
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		gid, ok := parseID(f[2])
		if !ok {
			continue
		}
		e := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			for _, m := range strings.Split(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					e.members = append(e.members, m)
				}
			}
		}
		out = append(out, e)
	}
	return out
}
