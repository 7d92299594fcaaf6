package runc

import "strings"

// processGids are the supplementary groups of a process run as spec, as
// BuildKit gives them: the primary group first, then, unless spec names a
// group, the groups of /etc/group that list the user.
func processGids(u user, spec string) []uint32 {
	gids := []uint32{u.gid}
	if strings.Contains(spec, ":") {
		return gids
	}
	for _, g := range u.gids {
		if g != u.gid {
			gids = append(gids, g)
		}
	}
	return gids
}
