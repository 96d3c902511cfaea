package detect

import (
	"encoding/json"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
)

// applyPatch returns the object a patch request would leave when applied
// to prev, the last version the engine saw: the JSON patch (a list of
// operations) or the merge patch the request carried. A refused patch, or
// one logged without its response, shows only the operations; applied to
// the known version, they show the role or webhook the writer asked for.
// Strategic-merge and apply patches are applied as merge patches, which
// replaces lists where the apiserver would merge them by key: the result
// may hold fewer list items than the apiserver's, never invented ones.
// nil when the patch does not apply.
func applyPatch(prev map[string]any, body []byte) map[string]any {
	if prev == nil || len(body) == 0 {
		return nil
	}
	doc, err := json.Marshal(prev)
	if err != nil {
		return nil
	}
	var out []byte
	if body[0] == '[' {
		p, err := jsonpatch.DecodePatch(body)
		if err != nil {
			return nil
		}
		if out, err = p.Apply(doc); err != nil {
			return nil
		}
	} else if out, err = jsonpatch.MergePatch(doc, body); err != nil {
		return nil
	}
	return parseObject(out)
}
