import type { ComponentChildren } from 'preact';
import type { ApiProblem } from '../api';

/** Field name → message. */
export type FieldErrors = Record<string, string>;

/**
 * A 400's field errors by field. The API names each bad field by its path (`reason`,
 * `selector.appIds.2`); a path under one of `fields` is shown at that field, messages joined.
 */
export function fieldErrorsOf(problem: ApiProblem, fields: readonly string[] = []): FieldErrors {
  const errors: FieldErrors = {};
  for (const { path, message } of problem.errors) {
    const field = fields.filter((f) => path === f || path.startsWith(`${f}.`)).sort((a, b) => b.length - a.length)[0] ?? path;
    errors[field] = errors[field] === undefined ? message : `${errors[field]}; ${message}`;
  }
  return errors;
}

/** The attributes that tie a field's input to its error (aria-invalid, aria-describedby). */
export function describedBy(errors: FieldErrors, name: string) {
  return errors[name] ? { 'aria-invalid': true, 'aria-describedby': `e-${name}` } : {};
}

/**
 * A labelled field with the API's error beside it; the input's id is `f-{name}`. A `group` (radio
 * buttons, checkboxes) is a fieldset whose legend is the label.
 */
export function Field({
  name,
  label,
  errors,
  group = false,
  children,
}: {
  name: string;
  label: string;
  errors: FieldErrors;
  group?: boolean;
  children: ComponentChildren;
}) {
  const error = errors[name] && (
    <span class="field-error" id={`e-${name}`} role="alert">
      {errors[name]}
    </span>
  );
  return group ? (
    <fieldset class={`field field-group${errors[name] ? ' invalid' : ''}`} aria-describedby={errors[name] ? `e-${name}` : undefined}>
      <legend>{label}</legend>
      <div>{children}</div>
      {error}
    </fieldset>
  ) : (
    <div class={`field${errors[name] ? ' invalid' : ''}`}>
      <label for={`f-${name}`}>{label}</label>
      {children}
      {error}
    </div>
  );
}
