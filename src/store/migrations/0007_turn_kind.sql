-- What the person did in a turn, as a column rather than a prefix of the text: wrote a
-- message, or picked an option (the text is then the entry id).
ALTER TABLE turns ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
UPDATE turns SET kind = 'option', text = substr(text, 10) WHERE substr(text, 1, 9) = '[option] ';
