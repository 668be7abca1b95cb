-- Who has a ticket and who closed it, and who wrote an agent's turn: the name or role an
-- agent shows the person ("Camille", "Agent de l'accueil"), never an email. NULL: an
-- integration that gave none (the widget then shows the corpus's `agent_label`).
-- `closed_by`: 'agent' (resolved) or 'person' (the person cancelled the request).

ALTER TABLE tickets ADD COLUMN claimed_by TEXT;
ALTER TABLE tickets ADD COLUMN closed_by TEXT CHECK (closed_by IN ('agent', 'person'));
ALTER TABLE turns ADD COLUMN agent TEXT;
