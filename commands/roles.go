package commands

import "strings"

// Role is one of Airflow's own role names; each role may do everything the roles below it may.
type Role int

// The roles, lowest first.
const (
	RoleNone Role = iota
	RoleViewer
	RoleUser
	RoleOp
	RoleAdmin
)

var roleNames = []string{"None", "Viewer", "User", "Op", "Admin"}

// String returns the role's Airflow name.
func (r Role) String() string {
	if r < RoleNone || r > RoleAdmin {
		return "None"
	}
	return roleNames[r]
}

// ParseRole reads a role by its Airflow name, in any case.
func ParseRole(name string) (Role, bool) {
	for r := RoleViewer; r <= RoleAdmin; r++ {
		if strings.EqualFold(name, roleNames[r]) {
			return r, true
		}
	}
	return RoleNone, false
}
