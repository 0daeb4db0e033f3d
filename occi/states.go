package occi

// allowedFrom gives, per action, the states it may start from (GFD.224
// figures 2-4; 1.1's storage actions from GFD.184 table 9). A rendering
// lists an action only from these states; network and storage actions are
// also accepted when the resource already is in the target state (they
// are idempotent: "down" on an inactive network changes nothing), see
// idempotent.
var allowedFrom = map[string][]string{
	SchemeComputeAction + "start":    {"inactive", "suspended", "error"},
	SchemeComputeAction + "stop":     {"active", "suspended", "error"},
	SchemeComputeAction + "restart":  {"active"},
	SchemeComputeAction + "suspend":  {"active"},
	SchemeComputeAction + "save":     {"active", "inactive"},
	SchemeNetworkAction + "up":       {"inactive", "error"},
	SchemeNetworkAction + "down":     {"active", "error"},
	SchemeStorageAction + "online":   {"offline", "error"},
	SchemeStorageAction + "offline":  {"online", "error"},
	SchemeStorageAction + "backup":   {"online", "offline"},
	SchemeStorageAction + "snapshot": {"online", "offline"},
	SchemeStorageAction + "resize":   {"online", "offline"},
}

// stateOf returns the entity's current state attribute value.
func stateOf(e *Entity) string {
	for _, k := range []string{"occi.compute.state", "occi.network.state", "occi.storage.state"} {
		if s, ok := e.Attrs[k].(string); ok {
			return s
		}
	}
	return ""
}

// definedActions lists the actions the entity's kind and mixins define.
func (o *op) definedActions(e *Entity) []string { return o.m.definedActions(e.Kind, e.Mixins) }

// definedActions lists the actions a kind and mixins define.
func (m *model) definedActions(kind string, mixins []string) []string {
	var out []string
	for k := kind; k != ""; {
		c := m.get(k)
		if c == nil {
			break
		}
		out = append(out, c.Actions...)
		k = c.Parent
	}
	for _, id := range mixins {
		if c := m.get(id); c != nil {
			out = append(out, c.Actions...)
		}
	}
	return out
}

// idempotent maps actions to the state they lead to when running them in
// that state is a harmless no-op.
var idempotent = map[string]string{
	SchemeNetworkAction + "up":      "active",
	SchemeNetworkAction + "down":    "inactive",
	SchemeStorageAction + "online":  "online",
	SchemeStorageAction + "offline": "offline",
}

// accepted tells whether action may be invoked in the entity's state.
func accepted(e *Entity, action string) bool {
	return allowed(e, action) || (idempotent[action] != "" && idempotent[action] == stateOf(e))
}

// allowed tells whether the action is one the state offers.
func allowed(e *Entity, action string) bool { return allowedIn(stateOf(e), action) }

// allowedIn tells whether the action is one state st offers.
func allowedIn(st, action string) bool {
	from, ok := allowedFrom[action]
	if !ok {
		return true
	}
	for _, s := range from {
		if s == st {
			return true
		}
	}
	return false
}

// fillActions sets the actions applicable now (GFD.229 §5.1.1: a
// resource's rendering carries the actions its state allows).
func (o *op) fillActions(e *Entity) { e.Actions = o.m.actions(e.Kind, e.Mixins, stateOf(e)) }

// actions lists the actions an entity of kind with mixins offers in
// state st.
func (m *model) actions(kind string, mixins []string, st string) []string {
	var out []string
	for _, a := range m.definedActions(kind, mixins) {
		if allowedIn(st, a) {
			out = append(out, a)
		}
	}
	return out
}
