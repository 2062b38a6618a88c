import { render } from 'preact';

render(<p class="status">Entra Cert Rotator</p>, document.getElementById('app')!);
