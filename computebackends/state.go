package computebackends

import (
	"fmt"
	"slices"
)

// Action names a machine action of the contract (the OCCI compute actions
// of GFD.224 table 5, and the resize a size change asks for).
type Action string

// Machine actions.
const (
	ActionStart   Action = "start"
	ActionStop    Action = "stop"
	ActionRestart Action = "restart"
	ActionSuspend Action = "suspend"
	ActionSave    Action = "save"
	ActionResize  Action = "resize"
)

// Actions lists the machine actions, in the order of GFD.224 table 5.
var Actions = []Action{ActionStart, ActionStop, ActionRestart, ActionSuspend, ActionSave, ActionResize}

// MachineStates lists the states a machine can be in.
var MachineStates = []State{StateInactive, StateActive, StateSuspended, StateError}

// methods are the methods each action takes (GFD.224 table 5), the default
// (what an empty method means) first. Start and Resize take none.
var methods = map[Action][]string{
	ActionStart:   {""},
	ActionStop:    {string(StopGraceful), string(StopACPIOff), string(StopPowerOff)},
	ActionRestart: {string(RestartGraceful), string(RestartWarm), string(RestartCold)},
	ActionSuspend: {string(SuspendSuspend), string(SuspendHibernate)},
	ActionSave:    {string(SaveHot), string(SaveDeferred)},
	ActionResize:  {""},
}

// Methods lists the methods of an action, its default first ("" for an
// action without methods).
func Methods(a Action) []string { return slices.Clone(methods[a]) }

// Rule is one row of the machine state machine: Action, with Method (""
// for every method of the action), is allowed from the states in From and
// leaves the machine in To ("" when the state does not change).
type Rule struct {
	Action Action
	Method string
	From   []State
	To     State
}

// Rules is the machine state machine, written once for every backend: an
// action is allowed from the listed states and refused with ErrConflict
// from any other, leaving the machine as it was. computetest checks every
// backend against it, row by row and state by state.
//
// It follows GFD.224 (table 5 and figure 3): start makes a machine active
// (from inactive, from suspended, which resumes or restores it, and from
// error, which boots it again); stop makes it inactive (a suspended
// machine's saved memory is discarded; a failed one is put back to a clean
// stop); restart and suspend need it active; save copies its disk in any
// state but refuses a deferred save of an active machine (deferred needs
// the disk at rest); resize needs it inactive, since no backend hot-plugs
// CPUs or memory and a suspended machine's memory image has its old size.
var Rules = []Rule{
	{Action: ActionStart, From: []State{StateInactive, StateSuspended, StateError}, To: StateActive},
	{Action: ActionStop, From: []State{StateActive, StateSuspended, StateError}, To: StateInactive},
	{Action: ActionRestart, From: []State{StateActive}, To: StateActive},
	{Action: ActionSuspend, From: []State{StateActive}, To: StateSuspended},
	{Action: ActionSave, Method: string(SaveHot), From: []State{StateActive, StateInactive, StateSuspended, StateError}},
	{Action: ActionSave, Method: string(SaveDeferred), From: []State{StateInactive, StateSuspended, StateError}},
	{Action: ActionResize, From: []State{StateInactive}},
}

// CheckMethod returns the method an action runs with (the default for "")
// or, for a method the action does not have, an error wrapping ErrInvalid.
func CheckMethod(a Action, method string) (string, error) {
	ms, ok := methods[a]
	if !ok {
		return "", fmt.Errorf("unknown action %q: %w", a, ErrInvalid)
	}
	if method == "" {
		return ms[0], nil
	}
	if !slices.Contains(ms, method) {
		return "", fmt.Errorf("%s: unknown method %q (want one of %v): %w", a, method, ms, ErrInvalid)
	}
	return method, nil
}

// Next looks an action up in Rules: the state a machine in state from is in
// after the action succeeds, or an error wrapping ErrConflict when the
// action is not allowed from there (ErrInvalid for an unknown method).
func Next(a Action, method string, from State) (State, error) {
	m, err := CheckMethod(a, method)
	if err != nil {
		return "", err
	}
	for _, r := range Rules {
		if r.Action != a || (r.Method != "" && r.Method != m) {
			continue
		}
		if !slices.Contains(r.From, from) {
			break
		}
		if r.To == "" {
			return from, nil
		}
		return r.To, nil
	}
	what := string(a)
	if m != "" {
		what += " (" + m + ")"
	}
	return "", fmt.Errorf("%s is not allowed while the machine is %s (allowed from %v): %w", what, from, allowedFrom(a, m), ErrConflict)
}

func allowedFrom(a Action, method string) []State {
	for _, r := range Rules {
		if r.Action == a && (r.Method == "" || r.Method == method) {
			return r.From
		}
	}
	return nil
}
