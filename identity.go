package mosaic

// IdentifierType names a kind of identifier: the built-in user_id, anonymous_id, email and
// phone, or a custom type declared per workspace (customer_number, card_token, …).
type IdentifierType string

// The built-in identifier types.
const (
	IdentifierUserID      IdentifierType = "user_id"
	IdentifierAnonymousID IdentifierType = "anonymous_id"
	IdentifierEmail       IdentifierType = "email"
	IdentifierPhone       IdentifierType = "phone"
)

// Identifier is one normalised identifier value of a type.
type Identifier struct {
	Type  IdentifierType `json:"type"`
	Value string         `json:"value"`
}

// String returns "type:value".
func (id Identifier) String() string { return string(id.Type) + ":" + id.Value }
