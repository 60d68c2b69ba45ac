// The catalog: experiments grouped by category, each a button with data-experiment="<id>"
// showing its title, summary and lesson.

export function renderCatalog(container, experiments, onChoose) {
  container.textContent = '';
  const groups = new Map();
  for (const exp of experiments) {
    const cat = exp.category || 'Other';
    if (!groups.has(cat)) groups.set(cat, []);
    groups.get(cat).push(exp);
  }
  for (const [category, list] of groups) {
    const h = document.createElement('h3');
    h.textContent = category;
    const ul = document.createElement('ul');
    ul.setAttribute('aria-label', category);
    for (const exp of list) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'experiment';
      b.dataset.experiment = exp.id;
      b.setAttribute('aria-current', 'false');
      const title = document.createElement('span');
      title.className = 'exp-title';
      title.textContent = exp.title || exp.id;
      const summary = document.createElement('span');
      summary.className = 'exp-summary';
      summary.textContent = exp.summary || '';
      const lesson = document.createElement('span');
      lesson.className = 'exp-lesson';
      lesson.textContent = exp.lesson || '';
      b.append(title, summary, lesson);
      b.addEventListener('click', () => onChoose(exp.id));
      li.appendChild(b);
      ul.appendChild(li);
    }
    container.append(h, ul);
  }
  if (!experiments.length) container.textContent = 'The server offers no experiments.';
}

export function markCurrent(container, id) {
  for (const b of container.querySelectorAll('[data-experiment]')) {
    b.setAttribute('aria-current', String(b.dataset.experiment === id));
  }
}
