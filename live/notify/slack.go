package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Slack posts to a Slack incoming webhook: Block Kit blocks, and a text
// that says everything on its own (the notification's fallback, and what
// Mattermost and Rocket.Chat, which take Slack's payload, show).
type Slack struct {
	base
	url string
}

var severityEmoji = map[string]string{"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:", "low": ":large_blue_circle:", "info": ":white_circle:"}

// SlackMessage is the body Slack is sent.
func SlackMessage(n *Notification) map[string]any {
	s := &n.Incident
	title := fmt.Sprintf("%s kaudit incident %s %s [%s]", severityEmoji[s.Severity], s.ID, n.Kind, strings.ToUpper(s.Severity))
	var text strings.Builder
	text.WriteString(title + "\n" + s.Summary)
	if len(n.Reasons) > 0 {
		text.WriteString("\nWhy now: " + strings.Join(n.Reasons, "; "))
	}
	fmt.Fprintf(&text, "\nTactics: %s\nActors: %s\nSources: %s\nFirst %s, last %s, %d findings",
		orNone(s.Tactics), orNone(s.Actors), orNone(s.SourceIPs), s.Start, s.End, s.FindingCount)
	for _, f := range s.TopFindings {
		fmt.Fprintf(&text, "\n• [%s] %s: %s by %s at %s", f.Severity, f.Title, objectOf(&f), f.Actor, f.Time)
	}
	if s.URL != "" {
		text.WriteString("\n" + s.URL)
	}
	blocks := []any{
		map[string]any{"type": "header", "text": plain(truncate(title, 150))},
		map[string]any{"type": "section", "text": mrkdwn(truncate(escape(s.Summary), 3000))},
		map[string]any{"type": "section", "fields": []any{
			mrkdwn("*Severity*\n" + s.Severity),
			mrkdwn("*Tactics*\n" + escape(orNone(s.Tactics))),
			mrkdwn("*Actors*\n" + escape(truncate(orNone(s.Actors), 1900))),
			mrkdwn("*Sources*\n" + escape(truncate(orNone(s.SourceIPs), 1900))),
			mrkdwn("*First / last*\n" + s.Start + "\n" + s.End),
			mrkdwn(fmt.Sprintf("*Findings*\n%d", s.FindingCount)),
		}},
	}
	if len(n.Reasons) > 0 {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []any{mrkdwn(escape("Why now: " + strings.Join(n.Reasons, "; ")))}})
	}
	if len(s.TopFindings) > 0 {
		var b strings.Builder
		b.WriteString("*Top findings*")
		for _, f := range s.TopFindings {
			fmt.Fprintf(&b, "\n• `%s` %s: %s by %s", f.Severity, escape(f.Title), escape(objectOf(&f)), escape(f.Actor))
		}
		blocks = append(blocks, map[string]any{"type": "section", "text": mrkdwn(truncate(b.String(), 3000))})
	}
	if s.URL != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []any{
			map[string]any{"type": "button", "text": plain("Open in kaudit"), "url": s.URL},
		}})
	}
	return map[string]any{"text": text.String(), "blocks": blocks}
}

func plain(s string) map[string]any  { return map[string]any{"type": "plain_text", "text": s} }
func mrkdwn(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": s} }

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// escape makes text safe for Slack's mrkdwn (&, <, > are control
// characters there).
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Send posts n.
func (s *Slack) Send(ctx context.Context, n, _ *Notification) error {
	body, err := json.Marshal(SlackMessage(n))
	if err != nil {
		return &SendError{Err: err}
	}
	return post(ctx, s.client, s.url, body, nil)
}
