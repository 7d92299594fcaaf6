package lang

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/model"
)

// user evaluates a user attribute, refusing ids that do not fit.
func (e *evaluator) user(attrs hcl.Attributes) string {
	s, ok := e.str(attrs, "user")
	if !ok {
		return ""
	}
	if err := model.ValidateUser(s); err != nil {
		e.invalid(attrs["user"], "Invalid user", capitalize(err.Error())+". Give a smaller numeric id, or a user name.")
		return ""
	}
	return s
}
