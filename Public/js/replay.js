// Replay of a finished run: play/pause, speed 0.25×–8×, a scrubber. It moves a time cursor;
// the timeline, the log and the deadlock panel show only what had happened by then.

const MIN_PLAY_US = 3e6; // a run shorter than 3 s plays over 3 s at 1×, so it can be seen

export class Replayer {
  constructor({ root, playButton, speedSelect, scrubber, timeOut, onCursor, onState }) {
    Object.assign(this, { root, playButton, speedSelect, scrubber, timeOut, onCursor, onState });
    this.model = null;
    this.t = null;          // cursor in µs, null = not replaying (everything shown)
    this.playing = false;
    this.last = 0;
    playButton.addEventListener('click', () => (this.playing ? this.pause() : this.play()));
    scrubber.addEventListener('input', () => {
      if (!this.model) return;
      this.pause();
      this.seek((Number(scrubber.value) / 1000) * this.duration());
    });
    speedSelect.addEventListener('change', () => this.onState(this.state()));
  }

  duration() { return Math.max(1, this.model ? this.model.maxTs : 1); }
  speed() { return Number(this.speedSelect.value) || 1; }

  setModel(model, finished) {
    this.pause();
    this.model = model;
    this.t = null;
    this.root.hidden = !finished;
    this.scrubber.value = '1000';
    this.timeOut.textContent = 'end';
    const note = document.getElementById('replay-note');
    if (note) {
      note.textContent = model && finished && this.duration() < MIN_PLAY_US
        ? `(a ${(this.duration() / 1000).toFixed(1)} ms run: 1× plays it over ${MIN_PLAY_US / 1e6} s)` : '';
    }
    this.onState('idle');
  }

  state() {
    if (this.playing) return 'playing';
    if (this.t == null) return 'idle';
    return this.t >= this.duration() ? 'ended' : 'paused';
  }

  seek(t) {
    this.t = Math.max(0, Math.min(t, this.duration()));
    this.scrubber.value = String(Math.round((this.t / this.duration()) * 1000));
    this.timeOut.textContent = `${(this.t / 1000).toFixed(2)} ms`;
    this.onCursor(this.t);
    if (this.t >= this.duration() && this.playing) this.pause();
    else this.onState(this.state());
  }

  play() {
    if (!this.model) return;
    if (this.t == null || this.t >= this.duration()) this.seek(0);
    this.playing = true;
    this.playButton.textContent = '❚❚ Pause';
    this.playButton.setAttribute('aria-pressed', 'true');
    this.onState('playing');
    this.last = performance.now();
    const step = (now) => {
      if (!this.playing) return;
      const dt = now - this.last;
      this.last = now;
      const stretch = Math.max(1, MIN_PLAY_US / this.duration());
      this.seek(this.t + (dt * 1000 * this.speed()) / stretch);
      if (this.playing) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  pause() {
    const was = this.playing;
    this.playing = false;
    this.playButton.textContent = '▶ Play';
    this.playButton.setAttribute('aria-pressed', 'false');
    if (was) this.onState(this.state());
  }

  /** Leave replay: show everything again. */
  reset() {
    this.pause();
    this.t = null;
    this.scrubber.value = '1000';
    this.timeOut.textContent = 'end';
    this.onCursor(null);
    this.onState('idle');
  }
}
